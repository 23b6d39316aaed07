"""Physical constants and unit conversions shared by meltdyn and its plugins.

meltdyn's own data are in Å, ps, eV and K unless a name says otherwise; engines convert at their boundary.
"""

EV_TO_KJ_MOL = 96.48533212
"""1 eV per particle in kJ/mol."""
KJ_MOL_TO_EV = 1.0 / EV_TO_KJ_MOL
A_TO_NM = 0.1
NM_TO_A = 10.0
AVOGADRO = 6.02214076e23
BOLTZMANN_EV_K = 8.617333262e-5
MOLAR_GAS_KJ_MOL_K = 0.00831446261815324
COULOMB_EV_A = 14.399645478
"""e²/(4πε0) in eV·Å."""
EV_A3_TO_GPA = 160.21766208
BAR_TO_EV_A3 = 1.0 / (EV_A3_TO_GPA * 1.0e4)
U_A2_PS2_TO_EV = 1.03642697e-4
"""A mass in u times a speed squared in (Å/ps)², in eV."""
