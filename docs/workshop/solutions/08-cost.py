# Module 8, the solution: what 3 million uploads a month cost in the put handler, Rust beside
# Python, on arm64 and x86_64. Prices: US East (N. Virginia), on demand; check the Lambda pricing
# page for today's in your region. The free tier is left out (it would pay for the first million).
import math
requests_per_month = 3_000_000
memory_gb = 128 / 1024
price_per_gb_second = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
price_per_request = 0.20 / 1_000_000
cold_start_share = 0.01   # 1 invocation in 100 starts a new sandbox
# s3-put-handler, from docs/benchmarks.md: warm median, cold start (init) and first invocation
functions = {"Rust": (16.94, 5.9, 19.8), "Python": (109.74, 413.8, 139.0)}
for language, (warm_ms, init_ms, first_ms) in functions.items():
    warm = requests_per_month * (1 - cold_start_share) * math.ceil(warm_ms)
    cold = requests_per_month * cold_start_share * math.ceil(init_ms + first_ms)
    gb_seconds = (warm + cold) / 1000 * memory_gb
    for architecture, price in price_per_gb_second.items():
        cost = requests_per_month * price_per_request + gb_seconds * price
        print(f"{language:6} {architecture:6} {gb_seconds:8,.0f} GB-s  ${cost:.2f} a month")
