"""The static leaderboard site: `build.build_site` renders a Report to plain HTML, `serve.serve` shows it."""
