"""The suite's fixtures live in plugin modules under ``tests/fixtures/``, registered here for every
test: a test uses a fixture by name and imports helpers from ``tests.fixtures.<module>`` (never from
a conftest). Conftests below this one hold only fixtures whose names mean something else elsewhere
(``sms`` in tests/app/auth and tests/app/notify) and the browser tests' own setup.

- ``tests.fixtures.clock``: ``DOORSTEP_TEST_NOW`` pins the run's clock; ``clock_env`` for children.
- ``tests.fixtures.database``: ``app``, ``client``, ``make`` (factories), ``world``; one database per
  xdist worker; every table emptied after each test.
- ``tests.fixtures.field``: residents and registrations the online way (``field``, ``person``…).
- ``tests.fixtures.appointments``: windows and bookings (``windows``, ``booker``…).
- ``tests.fixtures.tablets``: a tablet speaking the sync protocol (``tablet``, ``new_tablet``)."""

pytest_plugins = [
    "tests.fixtures.clock",
    "tests.fixtures.database",
    "tests.fixtures.field",
    "tests.fixtures.appointments",
    "tests.fixtures.tablets",
]
