// Swagger UI's settings for Troupe's reference page. A file of its own (not
// an inline script) so that the page's Content-Security-Policy can allow
// scripts from this origin only.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/docs/openapi.json",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    docExpansion: "list",
    displayRequestDuration: true,
    // No badge from validator.swagger.io: the page calls no other host.
    validatorUrl: null,
    // Ignore ?url= and ?configUrl=: the page documents this API only.
    queryConfigEnabled: false,
  });
});
