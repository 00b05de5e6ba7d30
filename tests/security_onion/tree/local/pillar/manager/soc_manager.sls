manager:
  proxy: ''
  no_proxy: 'localhost, 127.0.0.1, @@MANAGERIP@@, @@MANAGER@@'
  elastalert: 1

