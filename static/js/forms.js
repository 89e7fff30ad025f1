// Progressive enhancement: a form that is being sent cannot be sent twice by a second click or tap
// (a slow connection in the gym would otherwise create a patient twice). Without JavaScript, forms still work.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.sending === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.sending = "1";
  form.setAttribute("aria-busy", "true");
  // Re-enable after a while in case the response was a download or the user pressed Back.
  window.setTimeout(function () { form.dataset.sending = ""; form.removeAttribute("aria-busy"); }, 8000);
});
