// Security Onion 2.4's own SOC analytics loader, byte for byte below the line of dashes (the tests
// serve only those bytes, checked against the git blob id):
//   repository Security-Onion-Solutions/securityonion, file salt/soc/files/soc/analytics.js,
//   added in commit 3aea2dec85745aca62f89a53cb6f8444629dce32 ("analytics", 2024-04-01), the same
//   blob 6a0d72d5d4b07a3249f9931e86eabbaf70a1af58 on 2.4/main (1cef75d6d) and 2.4/dev (a76a2d8e9).
// Security Onion writes it to /opt/so/conf/soc/analytics.js (salt/soc/config.sls, state socanalytics)
// and bind-mounts that over the SOC image's empty html/js/analytics.js only while SOC Telemetry is on
// and the grid is not airgapped (salt/soc/enabled.sls).
// ----------------------------------------------------------------------------------------------
(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
  new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
  j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
  'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
  })(window,document,'script','dataLayer','GTM-TM46SL7T');
