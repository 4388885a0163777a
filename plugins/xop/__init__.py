"""XOP Networks operations pipeline: the domain package behind the Airflow DAGs."""
