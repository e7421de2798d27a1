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

  // Times. The server writes <time datetime="...">2026-12-07 10:31:05
  // UTC</time>; they are shown in the zone chosen in the header (saved in
  // localStorage as vigil-tz: "" for the browser's zone, or an IANA name
  // such as UTC or Europe/Berlin), labelled with that zone. Chart axes
  // carry data-t (the instant) and data-span (the bucket, in seconds).
  var TZ_KEY = "vigil-tz";

  function savedZone() {
    var z = "";
    try { z = localStorage.getItem(TZ_KEY) || ""; } catch (e) {}
    if (z && !validZone(z)) z = "";
    return z;
  }

  function validZone(z) {
    try { new Intl.DateTimeFormat("en-US", { timeZone: z }); return true; } catch (e) { return false; }
  }

  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { return "UTC"; }
  }

  // parts returns the date and time fields of d in zone, and the zone's
  // short label at that instant ("CET", "EST", "UTC", or "GMT+5:30" where
  // no abbreviation exists).
  function parts(d, zone) {
    var opts = { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23", timeZoneName: "short" };
    var out = {};
    new Intl.DateTimeFormat("en-US", opts).formatToParts(d).forEach(function (p) { out[p.type] = p.value; });
    if (/^GMT[+-]/.test(out.timeZoneName || "")) {
      // en-US names American zones; en-GB knows European ones (CET, BST).
      new Intl.DateTimeFormat("en-GB", opts).formatToParts(d).forEach(function (p) {
        if (p.type === "timeZoneName" && !/^GMT[+-]/.test(p.value)) out.timeZoneName = p.value;
      });
    }
    if (zone === "UTC" || out.timeZoneName === "GMT" && zone === "Etc/UTC") out.timeZoneName = "UTC";
    if (out.hour === "24") out.hour = "00";
    return out;
  }

  function applyZone(root) {
    var zone = savedZone() || browserZone();
    var fmt = function (d) {
      var p = parts(d, zone);
      return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second + " " + p.timeZoneName;
    };
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      var s = fmt(d);
      if (el.classList.contains("ago")) el.title = s;
      else el.textContent = s;
      el.setAttribute("data-zone", zone);
    });
    var label = parts(new Date(), zone).timeZoneName;
    (root || document).querySelectorAll("svg.chart").forEach(function (svg) {
      var first = null;
      svg.querySelectorAll("text[data-t]").forEach(function (el) {
        var d = new Date(el.getAttribute("data-t"));
        if (isNaN(d)) return;
        var p = parts(d, zone);
        if (!first) first = p;
        var span = parseInt(el.getAttribute("data-span"), 10) || 60;
        el.textContent = span >= 86400 ? p.month + "-" + p.day : span >= 60 ? p.hour + ":" + p.minute : p.hour + ":" + p.minute + ":" + p.second;
      });
      var tz = svg.querySelector("text.tz");
      if (tz) tz.textContent = first ? first.timeZoneName : label;
    });
  }

  function bindZone() {
    var sel = document.getElementById("tz-select");
    if (!sel) return;
    var browser = browserZone();
    var zones = [];
    try { zones = Intl.supportedValuesOf("timeZone"); } catch (e) { zones = []; }
    var add = function (value, text) {
      var o = document.createElement("option");
      o.value = value;
      o.textContent = text;
      sel.appendChild(o);
    };
    add("", "Browser (" + browser + ")");
    add("UTC", "UTC");
    zones.forEach(function (z) { if (z !== "UTC") add(z, z); });
    sel.value = savedZone();
    sel.closest("label").hidden = false;
    sel.addEventListener("change", function () {
      try {
        if (sel.value) localStorage.setItem(TZ_KEY, sel.value);
        else localStorage.removeItem(TZ_KEY);
      } catch (e) {}
      applyZone();
    });
  }

  // Copy buttons: <button class="copy" data-copy="value">, with the
  // Clipboard API, or a selection where it is not offered (a page over
  // plain HTTP from another host).
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "offscreen";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      if (ok) resolve(); else reject(new Error("copy refused"));
    });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button.copy[data-copy]") : null;
    if (!b) return;
    ev.preventDefault();
    copyText(b.getAttribute("data-copy")).then(function () {
      b.classList.add("copied");
      b.setAttribute("aria-label", "Copied");
      b.title = "Copied";
      setTimeout(function () { b.classList.remove("copied"); b.setAttribute("aria-label", "Copy value"); b.title = "Copy"; }, 1500);
    }, function () {
      b.title = "Copy failed: select the value and copy it";
    });
  });

  function start() {
    bind();
    bindZone();
    applyZone();
    // Fragments htmx swaps in (histogram, tail rows) carry times too.
    document.body.addEventListener("htmx:afterSettle", function (ev) { applyZone(ev.target); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
