// The portal's Copy button: the Clipboard API where the page is a secure context (HTTPS,
// localhost); elsewhere (plain HTTP on a host name) the number is selected and copied the
// old way. No inline script: the pages' Content-Security-Policy allows none.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  var text = source.textContent.trim();
  function done(ok) {
    button.textContent = ok ? "Copied" : "Select and copy it";
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    return;
  }
  var range = document.createRange();
  range.selectNodeContents(source);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  var ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  done(ok);
});
