"""Deployment of the operator as a CANN custom OPP.

The op info ``.ini`` files in ``op_info_cfg/ai_core/<soc>/`` are the single source of
truth for dtypes, formats, attributes and flags per SoC. The modules here parse and
validate them (:mod:`bce_grad.tools.deploy.op_info`), turn them into ``aic-<soc>-ops-info.json``,
generate framework registration from them and build the custom OPP package.
"""
