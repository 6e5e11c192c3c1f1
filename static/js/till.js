/* The till's small helpers. Everything works without this file: the server is the one that refuses
   a second recording (idempotency key) and resolves what was typed in the Customer field. */
(function () {
  "use strict";

  // A double click sends one request: the buttons are disabled just after the first submission starts
  // (not during it, so the pressed button's name and value still travel with the form).
  document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      if (form.dataset.submitted) { return; }
      form.dataset.submitted = "1";
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (button) {
          button.disabled = true;
        });
      }, 0);
    });
  });

  // Pages restored from the back-forward cache come back with their buttons enabled.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button").forEach(function (button) { button.disabled = false; });
    });
  });

  // Suggestions while typing a customer: optional, from the same search the server runs on submit.
  var input = document.getElementById("id_customer");
  var list = document.getElementById("customer-suggestions");
  if (!input || !list || !window.fetch) { return; }
  var url = input.dataset.suggestUrl;
  var timer = null;
  var last = "";
  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    var text = input.value.trim();
    if (text.length < 2 || text === last || !url) { return; }
    timer = window.setTimeout(function () {
      last = text;
      fetch(url + "?q=" + encodeURIComponent(text), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { customers: [] }; })
        .then(function (data) {
          list.replaceChildren();
          data.customers.forEach(function (customer) {
            var option = document.createElement("option");
            option.value = customer.member_number;
            option.label = customer.label;
            list.appendChild(option);
          });
        })
        .catch(function () { /* suggestions are a nicety: typing still works */ });
    }, 200);
  });
})();
