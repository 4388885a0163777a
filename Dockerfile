# The Airflow image of the XOP operations pipeline (docker-compose.yaml builds it).
#
# The official Airflow 3.3 image (Python 3.11, as the project), plus
#  - the Debian tools the DAGs call: SIPp (trunk test calls), the PostgreSQL client tools
#    (pg_dump / pg_restore / psql for backups and restores), OpenSSH client (remote health probes);
#  - the project's pinned Python set, requirements.txt;
#  - the XOP connection types for Admin -> Connections (providers/xop-provider-info: declarations
#    only, it imports nothing of xop; the hooks themselves come with the mounted plugins/).
# dags/, plugins/ and include/ are mounted by docker-compose.yaml, not baked in.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

USER root
# chromium: the SLA report's PDF (headless --print-to-pdf of the saved page; reports.pdf in the config)
RUN apt-get update \
    && apt-get install -y --no-install-recommends sip-tester postgresql-client openssh-client chromium \
        espeak-ng \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

USER airflow
COPY --chown=airflow:0 requirements.txt /opt/xop/requirements.txt
# requirements.txt pins apache-airflow itself. Airflow must stay the image's own version
# ($AIRFLOW_VERSION is set by the base image): the constraint makes pip fail the build if the
# pinned set ever asks for another one, instead of silently replacing Airflow inside its image.
RUN printf 'apache-airflow==%s\napache-airflow-core==%s\n' "${AIRFLOW_VERSION}" "${AIRFLOW_VERSION}" \
        > /tmp/airflow-version.txt \
    && pip install --no-cache-dir -r /opt/xop/requirements.txt -c /tmp/airflow-version.txt \
    && python -c "import airflow; assert airflow.__version__ == '${AIRFLOW_VERSION}', airflow.__version__"
COPY --chown=airflow:0 providers/xop-provider-info /opt/xop/providers/xop-provider-info
# Checked as Airflow sees it, without plugins/ (not mounted at build time); a scratch AIRFLOW_HOME
# so that no airflow.cfg is baked into the image.
RUN pip install --no-cache-dir --no-deps /opt/xop/providers/xop-provider-info \
    && home="$(mktemp -d)" && AIRFLOW_HOME="$home" airflow providers get xop-provider-info \
    && rm -rf "$home" /opt/xop/providers/xop-provider-info/build
