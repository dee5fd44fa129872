"""Delivery: couriers, the dispatch engine, ETAs, and the MDRP benchmark.

The engine's pure modules (no database, no web):

* ``model``       the values: orders, restaurants, couriers, routes and their timelines, the rules of time and pay
                  (``Rules``, ``EuclideanCeilTravel``), and ``RoundView``: exactly what is known at a decision time;
* ``dispatch``    the ``Policy`` protocol, ``Decisions``, ``apply_decisions`` -> ``Plan`` (live ETAs), ``quote``,
                  the policy registry and the ``greedy`` baseline;
* ``routing``     the route planner inside a bundle (TSPPD);
* ``mdrp``        the Grubhub MDRP instances: loading, undeliverable orders, lower bounds;
* ``simulation``  the discrete-event simulation of one instance, driven through round views;
* ``feasibility`` the harness's check of an executed schedule (every violation has a code);
* ``metrics``     the issue's figures per instance and per family;
* ``solution``    the files for the instances' public evaluator;
* ``bench``/``cli`` ``o2o delivery bench``.
"""
