"""Research tools, kept apart from the product: synthetic machines (`synth`, and `orders_synth`,
an independently written second generator to test detectors on a rendering they were not tuned
on; `generators` puts both behind one interface), metrics and the `humwatch evaluate` report
(`evaluation`), the detector evaluation suite
behind `make eval` (`eval_suite`) and the alert simulation behind `humwatch simulate-alerts`
(`simulation`).

The CLI, the local demo and the tests use them; the code the Lambdas run (handlers, services,
scoring) never imports this package, so none of it ships in the function layer.
"""
