// Assessment form: show the PHQ-9 block as soon as the PHQ-2 total reaches the cut-off. Without this script the
// server asks for the PHQ-9 after submitting (progressive enhancement; no inline scripts under the CSP).
(function () {
  "use strict";
  var followUp = document.querySelector("[data-follow-up-of]");
  if (!followUp) {
    return;
  }
  var screen = followUp.getAttribute("data-follow-up-of");
  var minimum = parseInt(followUp.getAttribute("data-follow-up-min"), 10);
  var form = followUp.form || followUp.closest("form");

  function screenTotal() {
    var checked = form.querySelectorAll('input[type="radio"][name^="' + screen + '-"]:checked');
    var total = 0;
    var answered = 0;
    Array.prototype.forEach.call(checked, function (input) {
      if (input.value !== "") {
        total += parseInt(input.value, 10);
        answered += 1;
      }
    });
    return answered ? total : -1;
  }

  function followUpAnswered() {
    return followUp.querySelector('input[type="radio"]:checked:not([value=""])') !== null;
  }

  function update() {
    var show = screenTotal() >= minimum || followUpAnswered();
    followUp.hidden = !show;
  }

  form.addEventListener("change", update);
  update();
})();
