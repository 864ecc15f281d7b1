"""Analysis of stored results: statistics (`stats`), the A/B comparison (`compare`, `pareto`), the weekly
regression check (`regression`), trends (`trends`), schedule clashes per GPU pool (`schedules`)."""
