"""TBE operator implementations, deployable as they are into a CANN custom OPP package."""
