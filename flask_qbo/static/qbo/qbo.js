/* Flask-QBO widgets: keep polled widgets when the server answers 304 Not Modified.
   Widgets poll with the ETag they were rendered with (If-None-Match); htmx would
   otherwise swap the empty 304 body in and blank the widget. Works with the
   vendored htmx or the host's own copy, whichever loads. */
document.addEventListener("htmx:beforeSwap", function (event) {
  if (event.detail && event.detail.xhr && event.detail.xhr.status === 304) {
    event.detail.shouldSwap = false;
    event.detail.isError = false;
  }
});

/* Import review: typing in a row's contact search (or choosing from its list)
   chooses that row's "Link to another contact" option, so Enter saves what the
   admin is looking at.  Without JavaScript the server reads the typed text the same way. */
document.addEventListener("input", function (event) {
  var target = event.target;
  var id = target && target.getAttribute && target.getAttribute("data-qbo-choose");
  var radio = id && document.getElementById(id);
  if (radio) {
    radio.checked = true;
  }
});

/* Quote to cash: "Copy" beside a payment link copies the read-only field it names
   (data-qbo-copy="<input id>"); without the clipboard API the text is selected
   for Ctrl+C instead. */
document.addEventListener("click", function (event) {
  var button = event.target && event.target.closest && event.target.closest("[data-qbo-copy]");
  var field = button && document.getElementById(button.getAttribute("data-qbo-copy"));
  if (!field) {
    return;
  }
  field.select();
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = "Copied";
    });
  }
});
