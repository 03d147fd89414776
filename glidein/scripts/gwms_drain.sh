#!/bin/bash
# gwms_drain.sh - built-in setup and periodic script (factory level): site drain signals.
#
# Reads:      GLIDEIN_DRAIN_FILE (default /etc/gwms/glidein-drain): when it exists the
#             site asks for a gentle drain (no new jobs; running jobs finish);
#             GLIDEIN_PREEMPT_FILE (default /etc/gwms/glidein-preempt): when it exists
#             the site asks for a hard drain (running jobs are preempted now)
# Advertises: SiteWMS_WN_Draining, SiteWMS_WN_Preempt (true/false)
# Exit codes: 0 always (draining is not a node failure); 2 script error
set -Eeuo pipefail

# shellcheck source=glidein/lib/attrs.sh
source "${GWMS_LIB_DIR}/attrs.sh"

main() {
  local drain preempt
  drain=$(gwms_attr_default GLIDEIN_DRAIN_FILE /etc/gwms/glidein-drain)
  preempt=$(gwms_attr_default GLIDEIN_PREEMPT_FILE /etc/gwms/glidein-preempt)
  if [[ -e $drain || -e $preempt ]]; then
    gwms_attr_set SiteWMS_WN_Draining true
  else
    gwms_attr_set SiteWMS_WN_Draining false
  fi
  if [[ -e $preempt ]]; then
    gwms_attr_set SiteWMS_WN_Preempt true
  else
    gwms_attr_set SiteWMS_WN_Preempt false
  fi
}

main "$@"
