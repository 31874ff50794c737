// Package webtest tests the console (/console/) and the API reference
// (/docs) in a real browser: Debian's headless Chromium, driven with
// chromedp, against the real router on a loopback port and a seeded
// PostgreSQL database. Every page must load with no console error, no
// failed request and no request answered 4xx or 5xx other than the ones a
// test expects; screenshots at 375 px and 1280 px go to
// $WAYBILL_SCREENSHOTS (or the test's artifact directory: see go help
// testflag, -artifacts).
//
// The tests fail, never skip, when Chromium is missing: .ci/run installs
// Debian's chromium package.
package webtest
