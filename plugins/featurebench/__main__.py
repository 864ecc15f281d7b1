import sys

from featurebench.cli.main import main

if __name__ == "__main__":  # Airflow imports every file under plugins/ when it looks for plugins
    sys.exit(main())
