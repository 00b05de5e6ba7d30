/* Stand-in of SOC's usage analytics loader: starts a Google Tag Manager
   data layer and adds the container's script ahead of the page's first one. */
(function (win, doc, layerName, containerUrl) {
  var layer = (win[layerName] = win[layerName] || []);
  layer.push({ 'gtm.start': Date.now(), event: 'gtm.js' });
  var loader = doc.createElement('script');
  loader.async = true;
  loader.src = containerUrl;
  var anchor = doc.getElementsByTagName('script')[0];
  anchor.parentNode.insertBefore(loader, anchor);
})(window, document, 'dataLayer', 'https://www.googletagmanager.com/gtm.js?id=GTM-TM46SL7T');
