"""Load-generator health (MLPerf-style VALID/INVALID). A client that releases requests late changes the load the
server saw, so such a trial measures the client, not the server."""

from __future__ import annotations

import numpy as np

from featurebench.analysis.metrics import as_arrow, column_array

MAX_CLIENT_LAG_P99_MS = 50.0  # credit_to_start p99; AIPerf measured 8 ms healthy, 126 ms near its limit
MAX_RATE_SHORTFALL_PCT = 5.0  # achieved start rate below the issued (or requested) rate
FAILED_REQUEST_THRESHOLD = 0.05  # default of spec comparison.failed_request_threshold (AIPerf's ratio convention)


def trial_health(table, requested_rps: float | None = None,
                 failed_request_threshold: float = FAILED_REQUEST_THRESHOLD) -> tuple[bool, list[str]]:
    """VALID/INVALID for one trial, with the reasons it failed.

    INVALID when the client released requests late (credit_to_start p99 above MAX_CLIENT_LAG_P99_MS) or when the
    achieved start rate fell more than MAX_RATE_SHORTFALL_PCT short of the requested rate (or, without one, of the
    rate at which the scheduler issued credits): either way the server saw less load than the point claims. Also
    INVALID when more than `failed_request_threshold` of the requests failed (requests AIPerf itself cancelled at
    the end of a timed run do not count): the survivors of a crashed engine are not its latency.
    """
    table = as_arrow(table)
    reasons = []
    failed = int(np.count_nonzero(~column_array(table, "ok", bool) & ~column_array(table, "cancelled", bool)))
    if table.num_rows and failed / table.num_rows > failed_request_threshold:
        reasons.append(f"errors: {failed} of {table.num_rows} requests failed "
                       f"({failed / table.num_rows:.0%} > {failed_request_threshold:.0%})")
    lag = np.maximum(column_array(table, "credit_to_start_ms"), 0.0)
    lag = lag[~np.isnan(lag)]
    if len(lag) and (p99 := float(np.percentile(lag, 99))) > MAX_CLIENT_LAG_P99_MS:
        reasons.append(f"client lag: credit_to_start p99 {p99:.0f} ms > {MAX_CLIENT_LAG_P99_MS:g} ms")
    start = column_array(table, "request_start_ns", np.int64)
    credit = column_array(table, "credit_issued_ns", np.int64)
    # rates need only the first and last timestamps: min/max, not a sort of a million rows
    if len(start) >= 10 and start.max() > start.min():
        achieved = (len(start) - 1) / ((start.max() - start.min()) / 1e9)
        span = credit.max() - credit.min()
        target = requested_rps or ((len(credit) - 1) / (span / 1e9) if span > 0 else None)
        if target and achieved < target * (1 - MAX_RATE_SHORTFALL_PCT / 100):
            reasons.append(f"rate: achieved {achieved:.2f} req/s < requested {target:.2f} req/s")
    return not reasons, reasons
