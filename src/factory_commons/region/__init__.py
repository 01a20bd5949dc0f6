"""The region: maturity from evidence, surveys with confidence intervals, and tables that expose no firm.

For the people who fund smart-factory programmes (a city, a chamber, a technopark) and for each
firm's own self-assessment. Modules, one concern each:

* `models`: the typed objects (firms of the region, maturity answers, survey responses,
  programmes, buyer–supplier links);
* `db`: where they are kept (the commons database beside the store, kinds `region_*`);
* `maturity`, `maturity_model.toml`, `evidence`, `roadmap`: the five-level self-assessment;
* `survey`, `questionnaire`, `estimates`, `platform`: survey import, design-based indicators,
  the cooperation questionnaire and the same indicators from platform behaviour;
* `disclosure`, `privacy`: suppression of small cells (with complementary suppression across
  tables) and optional differential-privacy noise;
* `report`: every published cell of the regional report; `sample`: the sample region;
  `cli`: `factory-commons region ...`.
"""
