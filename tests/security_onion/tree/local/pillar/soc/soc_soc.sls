soc:
  config:
    server:
      srvKey: 'c3RhbmQtaW4gc2VydmVyIGtleSwgbm90IGEgc2VjcmV0IG9mIGFueSByZWFsIGdyaWQ='
