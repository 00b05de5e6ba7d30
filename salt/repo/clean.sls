so-telemetry-repo-clean-file-absent:
  file.absent:
    - name: {{ salt["telemetry.repo_definition"]()["path"] | yaml_dquote }}
