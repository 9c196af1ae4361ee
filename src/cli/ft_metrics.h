// Quasi-lockstep fault tolerance's figures (ft::FtStatus, as query-ft
// reports them) as a status section: the page's table and the tandem_ft_*
// metrics, each labelled with the side's role.
#pragma once

#include "cli/metrics.h"
#include "ft/ft_status.h"

namespace tandem::cli {

StatusSection ft_section(const ft::FtStatus& s);

}  // namespace tandem::cli
