/* o2o order pages: the small things that need a script. Everything works without it (the pages then refresh by
 * themselves through <noscript><meta http-equiv="refresh">, and the location is typed in).
 *
 * - [data-geolocate]: "Use my location" fills the latitude and longitude fields from the browser's geolocation
 *   (and submits the form when data-submit="true").
 * - [data-poll-order]: an order's page asks /api/orders/{id} every few seconds and reloads when its state or
 *   timeline changed.
 * - [data-poll-events]: the shop's console asks for order events after the newest it showed and reloads when
 *   there are some, unless someone is filling a form (then it says so and waits to be asked).
 * - [data-deadline]: a countdown to the time a new order must be accepted by.
 */
(function () {
  "use strict";

  function byId(id) { return id ? document.getElementById(id) : null; }

  function say(target, key) {
    if (target) { target.textContent = target.getAttribute("data-" + key) || ""; }
  }

  function setUpGeolocation(button) {
    if (!("geolocation" in navigator)) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var status = byId(button.getAttribute("data-status-target"));
      say(status, "locating");
      button.disabled = true;
      navigator.geolocation.getCurrentPosition(function (position) {
        var lat = byId(button.getAttribute("data-lat-target"));
        var lng = byId(button.getAttribute("data-lng-target"));
        if (lat) { lat.value = position.coords.latitude.toFixed(6); }
        if (lng) { lng.value = position.coords.longitude.toFixed(6); }
        var clear = byId(button.getAttribute("data-clear-target"));
        if (clear) { clear.value = ""; }
        button.disabled = false;
        say(status, "found");
        if (button.getAttribute("data-submit") === "true" && button.form) { button.form.submit(); }
      }, function () {
        button.disabled = false;
        say(status, "failed");
      }, { enableHighAccuracy: false, timeout: 10000, maximumAge: 60000 });
    });
  }

  function every(seconds, fn) {
    var ms = Math.max(2, Number(seconds) || 4) * 1000;
    function tick() {
      if (document.hidden) { setTimeout(tick, ms); return; }  // a tab in the background asks nothing
      fn().then(function (again) { if (again !== false) { setTimeout(tick, ms); } },
                function () { setTimeout(tick, ms * 2); });
    }
    setTimeout(tick, ms);
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  function setUpOrderPoll(el) {
    var state = el.getAttribute("data-state");
    var events = Number(el.getAttribute("data-events"));
    every(el.getAttribute("data-poll-seconds"), function () {
      return getJson(el.getAttribute("data-poll-url")).then(function (order) {
        var seen = (order.events || []).length;
        if (order.state !== state || seen !== events) { window.location.reload(); return false; }
        return true;
      });
    });
  }

  function busyWithAForm() {
    var active = document.activeElement;
    return !!active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }

  function setUpEventsPoll(el) {
    var banner = el.querySelector("[data-new-orders]");
    every(el.getAttribute("data-poll-seconds"), function () {
      return getJson(el.getAttribute("data-poll-url")).then(function (events) {
        if (!events.length) { return true; }
        if (!busyWithAForm()) { window.location.reload(); return false; }
        if (banner) { banner.hidden = false; }
        return false;  // shown once; the person reloads when ready
      });
    });
  }

  function setUpCountdown(el) {
    var deadline = Date.parse(el.getAttribute("data-deadline"));
    if (isNaN(deadline)) { return; }
    function draw() {
      var left = Math.round((deadline - Date.now()) / 1000);
      if (left <= 0) {
        el.textContent = el.getAttribute("data-late-text") || "0:00";
        el.setAttribute("data-late", "true");
        return;
      }
      var minutes = Math.floor(left / 60);
      var seconds = left % 60;
      el.textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
      el.setAttribute("data-late", left < 120 ? "true" : "false");
      setTimeout(draw, 1000);
    }
    el.setAttribute("aria-live", "off");  // a ticking clock would be read out every second
    draw();
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-geolocate]"), setUpGeolocation);
    Array.prototype.forEach.call(document.querySelectorAll("[data-poll-order]"), setUpOrderPoll);
    Array.prototype.forEach.call(document.querySelectorAll("[data-poll-events]"), setUpEventsPoll);
    Array.prototype.forEach.call(document.querySelectorAll("[data-deadline]"), setUpCountdown);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
