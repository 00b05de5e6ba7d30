{#- Stand-in of Security Onion 2.4's patch/os/init.sls, the OS update the
    patch_os_schedule job runs. Security Onion runs pkg.uptodate here; the
    stand-in changes nothing, so a job that fires on a test host is
    harmless. #}
patch_os:
  test.succeed_without_changes:
    - name: patch_os
