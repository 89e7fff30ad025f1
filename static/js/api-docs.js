// Starts Swagger UI from a file (not an inline script) so the page keeps a strict Content-Security-Policy.
(function () {
  var node = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: node.dataset.specUrl, domNode: node, deepLinking: true });
})();
