"""Op info per SoC (``ai_core/<soc>/*.ini``), shipped as package data (``bce_grad.op_info_cfg``)."""
