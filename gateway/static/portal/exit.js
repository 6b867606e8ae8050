/* Quick exit. Without this script the "Exit this page" link still works: the server ends the
   session and sends the browser to an ordinary site. With it, the portal page is replaced in
   the history (location.replace), so Back does not come back here, and pressing Shift three
   times in a row leaves too. Same origin only (CSP script-src 'self'); no data is stored. */
(function () {
  "use strict";
  var link = document.getElementById("quick-exit");
  if (!link) { return; }
  var target = link.getAttribute("href");
  function leave(event) {
    if (event) { event.preventDefault(); }
    document.body.style.visibility = "hidden";
    window.location.replace(target);
  }
  link.addEventListener("click", leave);
  var presses = 0;
  var timer = null;
  document.addEventListener("keyup", function (event) {
    if (event.key !== "Shift") { presses = 0; return; }
    presses += 1;
    clearTimeout(timer);
    timer = setTimeout(function () { presses = 0; }, 1000);
    if (presses >= 3) { leave(null); }
  });
}());
