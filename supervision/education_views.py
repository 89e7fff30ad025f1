"""The education library (HTML): list, view, create and edit items, upload and serve their videos."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from accounts.auth import current_actor
from accounts.forms import EmptyForm
from core.access import require_permission
from core.errors import DomainError
from extensions import csrf, db
from supervision import education
from supervision.forms import EducationItemForm, VideoForm, lang

bp = Blueprint("education", __name__, url_prefix="/education")


@bp.route("/")
def index():
    items = sorted(education.list_items(current_actor()), key=lambda item: item.title(lang()).casefold())
    return render_template("education/index.html", items=items)


@bp.route("/<id:item_id>")
def item(item_id: int):
    found = education.get_item(current_actor(), item_id)
    return render_template(
        "education/item.html", item=found, video_form=VideoForm(formdata=None), action_form=EmptyForm()
    )


def _form_for(form: EducationItemForm, item=None) -> None:
    if item is not None and request.method == "GET":
        form.misconceptions.data = item.tag_codes("misconception")
        form.barriers.data = item.tag_codes("barrier")
        form.stages.data = item.tag_codes("stage")


def _apply_errors(form: EducationItemForm, exc: DomainError) -> None:
    tag_fields = {"tags.misconception": "misconceptions", "tags.barrier": "barriers", "tags.stage": "stages"}
    for name, message in exc.fields.items():
        target = getattr(form, tag_fields.get(name, name), None)
        if target is not None:
            target.errors = [*target.errors, message]
        else:
            flash(message, "error")


@bp.route("/new", methods=["GET", "POST"])
@require_permission("manage_education")
def create():
    form = EducationItemForm()
    if form.validate_on_submit():
        try:
            created = education.create_item(current_actor(), form.values())
        except DomainError as exc:
            db.session.rollback()
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Education item added."), "success")
            return redirect(url_for("education.item", item_id=created.id))
    status = 422 if form.errors else 200
    return render_template("education/form.html", form=form, item=None), status


@bp.route("/<id:item_id>/edit", methods=["GET", "POST"])
@require_permission("manage_education")
def edit(item_id: int):
    found = education.get_item(current_actor(), item_id)
    form = EducationItemForm(obj=found)
    _form_for(form, found)
    if form.validate_on_submit():
        try:
            education.update_item(current_actor(), item_id, form.values())
        except DomainError as exc:
            db.session.rollback()
            found = education.get_item(current_actor(), item_id)
            _apply_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Changes saved."), "success")
            return redirect(url_for("education.item", item_id=item_id))
    status = 422 if form.errors else 200
    return render_template("education/form.html", form=form, item=found), status


@bp.route("/<id:item_id>/video", methods=["POST"])
@csrf.exempt  # checked below, after raising the body limit that the token check would otherwise hit first
@require_permission("manage_education")
def upload_video(item_id: int):
    limit = current_app.config["EDUCATION_VIDEO_MAX_BYTES"]
    # Room for the multipart envelope and the other fields; the file itself is counted while it is written.
    request.max_content_length = limit + 64 * 1024
    csrf.protect()
    form = VideoForm()
    found = education.get_item(current_actor(), item_id)
    if form.validate_on_submit():
        upload = form.video.data
        try:
            found, replaced = education.save_video(
                current_actor(),
                item_id,
                filename=upload.filename or "",
                stream=upload.stream,
                folder=current_app.config["UPLOAD_FOLDER"],
                max_bytes=limit,
            )
        except DomainError as exc:
            db.session.rollback()
            found = education.get_item(current_actor(), item_id)
            form.video.errors = [*form.video.errors, exc.fields.get("video", exc.message)]
        else:
            db.session.commit()
            education.delete_video_file(current_app.config["UPLOAD_FOLDER"], replaced)
            flash(_("Video uploaded."), "success")
            return redirect(url_for("education.item", item_id=item_id))
    return render_template("education/item.html", item=found, video_form=form, action_form=EmptyForm()), 422


@bp.route("/<id:item_id>/video/remove", methods=["POST"])
@require_permission("manage_education")
def remove_video(item_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    _found, replaced = education.remove_video(current_actor(), item_id)
    db.session.commit()
    education.delete_video_file(current_app.config["UPLOAD_FOLDER"], replaced)
    flash(_("Video removed."), "success")
    return redirect(url_for("education.item", item_id=item_id))


@bp.route("/<id:item_id>/video")
def video(item_id: int):
    """Staff only (every page needs a login); patients will get videos through their portal link."""
    found = education.get_item(current_actor(), item_id)
    path = education.video_path(current_app.config["UPLOAD_FOLDER"], found.video_file)
    if path is None or not path.is_file():
        abort(404)
    response = send_file(path, mimetype=found.video_type, conditional=True, max_age=0)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "private, no-store"
    return response
