// ReDoc for this gateway's own OpenAPI document (vendored bundle, no CDN, no fonts from elsewhere).
window.addEventListener("load", function () {
  Redoc.init("/openapi.json", { hideDownloadButton: false, disableSearch: false },
             document.getElementById("redoc"));
});
