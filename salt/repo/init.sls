{#- The yum/dnf repository definition: upstream with the telemetry query,
    upstream without it, the local airgap repository, or the manager's. #}
so-telemetry-repo-telemetry-repo_managed:
  telemetry.repo_managed:
    - name: securityonion-repo
