include:
  - soc.config
