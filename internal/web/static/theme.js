// Applies the saved theme before the page paints (loaded in <head>).
(function () {
  var t = null;
  try { t = localStorage.getItem("vigil-theme"); } catch (e) {}
  if (t === "dark" || t === "light") document.documentElement.setAttribute("data-theme", t);
})();
