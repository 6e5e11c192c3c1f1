// The API reference: Swagger UI (drf-spectacular-sidecar's copy, served by the site) over /api/v1/schema/.
// A file of its own because the Content-Security-Policy allows no inline script.
"use strict";

(function () {
  const element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.dataset.schemaUrl,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    deepLinking: true,
    // Keys typed into "Authorize" stay in this tab only.
    persistAuthorization: false,
    // The reference reads the schema with the signed-in session; calls made from it need a key.
    withCredentials: false,
  });
})();
