-- The store's schema as release 0.1.0 created it (metadata.create_all, postgresql), before migrations.

CREATE TABLE api_keys (
	key_id VARCHAR(32) NOT NULL, 
	key_hash VARCHAR(128) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	township_id VARCHAR(64), 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	revoked BOOLEAN NOT NULL, 
	PRIMARY KEY (key_id), 
	UNIQUE (key_hash)
);

CREATE TABLE audit_log (
	id SERIAL NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	key_id VARCHAR(32) NOT NULL, 
	endpoint VARCHAR(200) NOT NULL, 
	hh_id VARCHAR(64), 
	village_id VARCHAR(64), 
	model_version VARCHAR(32), 
	PRIMARY KEY (id)
);

CREATE TABLE preview_scores (
	id SERIAL NOT NULL, 
	hh_id VARCHAR(64) NOT NULL, 
	village_id VARCHAR(64) NOT NULL, 
	township_id VARCHAR(64) NOT NULL, 
	year INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	label VARCHAR(32), 
	probability FLOAT, 
	tier VARCHAR(8), 
	criteria VARCHAR(100) NOT NULL, 
	rank_in_village INTEGER NOT NULL, 
	on_worklist BOOLEAN NOT NULL, 
	flag_income_below_line BOOLEAN NOT NULL, 
	flag_guarantee_failure BOOLEAN NOT NULL, 
	flag_medical_over_20k BOOLEAN NOT NULL, 
	flag_new_severe_disability BOOLEAN NOT NULL, 
	any_rule BOOLEAN NOT NULL, 
	top_risk_types VARCHAR(200) NOT NULL, 
	reasons_zh TEXT NOT NULL, 
	reasons_en TEXT NOT NULL, 
	measures_zh TEXT NOT NULL, 
	measures_en TEXT NOT NULL, 
	protective_zh TEXT NOT NULL, 
	protective_en TEXT NOT NULL, 
	reasons_json TEXT NOT NULL, 
	contributions BYTEA NOT NULL, 
	model_version VARCHAR(32) NOT NULL, 
	label_version VARCHAR(32) NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	scored_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	data_check TEXT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_preview_scores_batch ON preview_scores (year, model_version);

CREATE INDEX ix_preview_scores_hh ON preview_scores (hh_id, year);

CREATE INDEX ix_preview_scores_village ON preview_scores (village_id, year);

CREATE TABLE score_batches (
	year INTEGER NOT NULL, 
	model_version VARCHAR(32) NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	features TEXT NOT NULL, 
	rows INTEGER NOT NULL, 
	scored_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (year, model_version)
);

CREATE TABLE score_runs (
	id SERIAL NOT NULL, 
	year INTEGER NOT NULL, 
	model_version VARCHAR(32) NOT NULL, 
	model_alias VARCHAR(64) NOT NULL, 
	area VARCHAR(16) NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	source TEXT NOT NULL, 
	source_digest VARCHAR(64) NOT NULL, 
	households_scored INTEGER NOT NULL, 
	villages_scored INTEGER NOT NULL, 
	added INTEGER NOT NULL, 
	replaced INTEGER NOT NULL, 
	kept INTEGER NOT NULL, 
	dropped INTEGER NOT NULL, 
	batch_households INTEGER NOT NULL, 
	batch_villages INTEGER NOT NULL, 
	scored_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_score_runs_batch ON score_runs (year, model_version, area);

CREATE TABLE scores (
	id SERIAL NOT NULL, 
	hh_id VARCHAR(64) NOT NULL, 
	village_id VARCHAR(64) NOT NULL, 
	township_id VARCHAR(64) NOT NULL, 
	year INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	label VARCHAR(32), 
	probability FLOAT, 
	tier VARCHAR(8), 
	criteria VARCHAR(100) NOT NULL, 
	rank_in_village INTEGER NOT NULL, 
	on_worklist BOOLEAN NOT NULL, 
	flag_income_below_line BOOLEAN NOT NULL, 
	flag_guarantee_failure BOOLEAN NOT NULL, 
	flag_medical_over_20k BOOLEAN NOT NULL, 
	flag_new_severe_disability BOOLEAN NOT NULL, 
	any_rule BOOLEAN NOT NULL, 
	top_risk_types VARCHAR(200) NOT NULL, 
	reasons_zh TEXT NOT NULL, 
	reasons_en TEXT NOT NULL, 
	measures_zh TEXT NOT NULL, 
	measures_en TEXT NOT NULL, 
	protective_zh TEXT NOT NULL, 
	protective_en TEXT NOT NULL, 
	reasons_json TEXT NOT NULL, 
	contributions BYTEA NOT NULL, 
	model_version VARCHAR(32) NOT NULL, 
	label_version VARCHAR(32) NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	scored_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	data_check TEXT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_scores_batch ON scores (year, model_version);

CREATE INDEX ix_scores_hh ON scores (hh_id, year);

CREATE INDEX ix_scores_village ON scores (village_id, year);
