// Preloaded (`--import`) into the test processes by scripts/test.js, which start with
// NODE_V8_COVERAGE set: this process has already begun collecting its coverage (Node read
// the variable at start and writes the file at exit), so taking the variable out of the
// environment only keeps it from the processes and worker threads the tests start. Their
// coverage would be thrown away (scripts/test.js reports the test processes' own), and
// collecting it costs them about half again their CPU time: the campaign tests took 52 s
// of CPU with it and 34 s without, alone on a 2-core machine.
delete process.env.NODE_V8_COVERAGE;
