// Clientside helpers of the dashboard shell (no data passes through here).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  shell_links: function (pathname, hrefs) {
    return hrefs.map(function (href) {
      var active = href === "/" ? pathname === "/" : (pathname || "").indexOf(href) === 0;
      return active ? "tp-link active" : "tp-link";
    });
  },
  // Keep the address bar in step with a page's view (blueprint, range, selection) without reloading the
  // page: a copied link reproduces the view.
  sync_query: function (query) {
    if (!query) { return window.dash_clientside.no_update; }
    var params = new URLSearchParams();
    Object.keys(query).forEach(function (key) {
      var value = query[key];
      if (value !== null && value !== undefined && value !== "" && value !== false) { params.set(key, value); }
    });
    var text = params.toString();
    var url = window.location.pathname + (text ? "?" + text : "");
    if (url !== window.location.pathname + window.location.search) { window.history.replaceState(null, "", url); }
    return text;
  },
  // Hand `value` on once the browser has painted what the callback before set: the next frame's callbacks
  // run before its paint, the timeout after it. A page draws a heavy figure after its figures in numbers
  // this way, so the numbers show while the figure is being drawn however fast its answer arrives. A hidden
  // tab paints nothing: of the values that waited meanwhile, only the latest goes on once it is shown.
  after_paint: function (value) {
    var turn = (window.__touchpoint_paint_turn = (window.__touchpoint_paint_turn || 0) + 1);
    return new Promise(function (resolve) {
      requestAnimationFrame(function () {
        setTimeout(function () {
          resolve(turn === window.__touchpoint_paint_turn ? value : window.dash_clientside.no_update);
        }, 0);
      });
    });
  }
});
