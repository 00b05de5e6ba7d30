{%- from 'soc/merged.map.jinja' import SOCMERGED %}

include:
{%- if SOCMERGED.enabled %}
  - soc.enabled
{%- else %}
  - soc.disabled
{%- endif %}
