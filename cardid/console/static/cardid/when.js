// Fields that matter only for one choice (a sync source's settings, the group of a bulk
// action) carry data-when="NAME:VALUE". The server hides the others when it draws the page;
// this follows a new choice before the form is sent. Hidden fields are still sent.
function cardidFollow(name, value) {
  document.querySelectorAll("[data-when]").forEach(function (el) {
    var rule = el.getAttribute("data-when").split(":");
    if (rule[0] === name) el.hidden = rule[1] !== value;
  });
}
document.addEventListener("change", function (event) {
  var field = event.target;
  if (field.type === "radio" && !field.checked) return;
  cardidFollow(field.name, field.value);
});
