"""Pure builders the dashboard pages share: health badges, the blueprint swimlane, sparklines, trends and
the journey waterfall. Each takes typed values (state_model types, designs) and returns Dash components or
plotly figure dicts; none reads a clock, a request or ClickHouse."""
