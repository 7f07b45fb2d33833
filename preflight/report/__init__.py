"""Reports of a gate run: Allure environment and categories, the HTML report, summary.json."""
