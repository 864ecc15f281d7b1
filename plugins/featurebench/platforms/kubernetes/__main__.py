"""`python -m featurebench.platforms.kubernetes pools-json`: the Airflow pools, one per GPU pool, as JSON."""

from featurebench.platforms.kubernetes.pools import main

raise SystemExit(main())
