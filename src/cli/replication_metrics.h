// Continuous checkpointing's figures (replication::ReplicationStatus, as
// query-replication reports them) as a status section: the page's table
// and the tandem_replication_* and tandem_arbiter_* metrics, each labelled
// with the side's role.
#pragma once

#include "cli/metrics.h"
#include "replication/stats.h"

namespace tandem::cli {

StatusSection replication_section(const replication::ReplicationStatus& s);
// The arbiter's figures and tandem_arbiter_* metrics, labelled `role`.
void add_arbiter(StatusSection& out, const replication::ArbiterStatus& a,
                 const std::vector<std::pair<std::string, std::string>>& role);

}  // namespace tandem::cli
