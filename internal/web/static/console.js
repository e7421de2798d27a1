// Vigil console behaviour. No inline script anywhere (the CSP forbids it):
// everything binds here, from data attributes.
(function () {
  "use strict";
  var root = document.documentElement;

  function currentTheme() {
    var t = root.getAttribute("data-theme");
    if (t) return t;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function bind() {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.setAttribute("aria-pressed", currentTheme() === "dark" ? "true" : "false");
      toggle.addEventListener("click", function () {
        var next = currentTheme() === "dark" ? "light" : "dark";
        root.setAttribute("data-theme", next);
        toggle.setAttribute("aria-pressed", next === "dark" ? "true" : "false");
        try { localStorage.setItem("vigil-theme", next); } catch (e) {}
      });
    }

    // Search history: the last 20 queries, offered as suggestions.
    var form = document.getElementById("search-form");
    var list = document.getElementById("query-history");
    if (form && list) {
      var hist = [];
      try { hist = JSON.parse(localStorage.getItem("vigil-queries") || "[]"); } catch (e) { hist = []; }
      hist.forEach(function (q) {
        var o = document.createElement("option");
        o.value = q;
        list.appendChild(o);
      });
      form.addEventListener("submit", function () {
        var q = form.querySelector("[name=q]").value.trim();
        if (!q) return;
        hist = [q].concat(hist.filter(function (x) { return x !== q; })).slice(0, 20);
        try { localStorage.setItem("vigil-queries", JSON.stringify(hist)); } catch (e) {}
      });
      var range = form.querySelector("[name=range]");
      var custom = document.getElementById("custom-range");
      if (range && custom) {
        var sync = function () { custom.hidden = range.value !== "custom"; };
        range.addEventListener("change", sync);
        sync();
      }
    }

    // Select-all boxes: <input type=checkbox data-select-all="name">.
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        var name = box.getAttribute("data-select-all");
        document.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (c) {
          c.checked = box.checked;
        });
      });
    });

    // Buttons that ask first: data-confirm="text".
    document.addEventListener("click", function (ev) {
      var b = ev.target.closest ? ev.target.closest("[data-confirm]") : null;
      if (b && !window.confirm(b.getAttribute("data-confirm"))) ev.preventDefault();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bind);
  else bind();
})();
