"""Published QAOA angle tables, as Python literals (numbers only, with their sources).

Two tables, both in their AUTHORS' conventions (``jqmeta._src.rules`` converts them):

:data:`REGULAR_FIXED_ANGLES`
  The fixed-angle conjecture tables of J. Wurtz and D. Lykov, "The fixed angle
  conjecture for QAOA on regular MaxCut graphs", Phys. Rev. A 104, 052419 (2021),
  arXiv:2107.00677 (degree 3 also in Wurtz & Love, Phys. Rev. A 103, 042612 (2021)):
  ``{degree: {p: (cut_fraction, gammas, betas)}}`` for degree 3 to p = 11, degree 4 to
  p = 5, degree 5 to p = 4, degrees 6..10 to p = 3 and degree 11 to p = 2.
  ``cut_fraction`` is the expected fraction of edges cut that the angles guarantee on
  every ``degree``-regular graph of girth above ``2p + 1`` (the "AR" column; 0.6925 /
  0.7559 / 0.7924 / 0.8169 / 0.8364 at p = 1..5 for degree 3).  Convention (Farhi,
  Goldstone, Gutmann 2014): ``|gamma, beta> = prod_k exp(-i beta_k B) exp(-i gamma_k C)
  |+>`` with ``C = sum_edges (1 - Z_u Z_v) / 2`` the cut (maximised) and ``B = sum_j
  X_j``.  The digits are those of the machine-readable table the authors published
  (github.com/danlkv/fixed-angle-QAOA, ``angles_regular_graphs.json``, as redistributed
  with a ``{gamma, beta}`` layout in qiskit-community/qaoa_training_pipeline,
  ``training/data/fixed_angle_conjecture.json``); the paper prints them rounded.

:data:`SK_ANGLES` and :data:`SK_ENERGIES`
  The optimal SK-model angles and energies at infinite size of E. Farhi, J. Goldstone,
  S. Gutmann and L. Zhou, "The Quantum Approximate Optimization Algorithm and the
  Sherrington-Kirkpatrick Model at Infinite Size", Quantum 6, 759 (2022),
  arXiv:1910.08187 (2019), Table 1, p = 1..11 (the p <= 11 angles are reproduced to
  four digits in J. Basso et al., arXiv:2110.14206, and in jpmorganchase/QOKit,
  ``qokit/parameter_utils.py``).  Convention: ``C = (1/sqrt(n)) sum_{i<j} J_ij Z_i Z_j``,
  the same product of ``exp(-i gamma_k C)`` and ``exp(-i beta_k B)``; ``V_p`` is the
  optimal ``lim_n E_J[<C>] / n`` in absolute value (the value is negative: ``C`` is
  minimised), ``V_1 = 1 / (4 sqrt(e)) = 0.3033`` at ``gamma = 1/2``, ``beta = pi/8``.

:func:`regular_fixed_angles`, :func:`regular_fixed_angles_ratio`, :func:`sk_angles` and
:func:`sk_energy` return them in jqmeta's convention (phase ``exp(+i gamma cut) =
exp(-i gamma H_C)``, see :func:`jqmeta.qaoa.energy`): a sign and, for SK, a scale, fixed
by ``tests/test_rules.py`` (the Heawood graph reproduces the tabulated cut fractions at
p = 1, 2; SK instances the published ``V_1`` and ``V_2``):

* Max-Cut, ``C = cut = -H_C``: jqmeta's ``(gamma, beta)`` is Farhi's ``(-gamma, beta)``,
  i.e. ``(gamma, -beta)`` by the exact symmetry ``E(-gamma, -beta) = E(gamma, beta)``.
* SK, ``C = sum_{i<j} w_ij Z_i Z_j`` with ``w = J / sqrt(n)``: ``H_C = C / 2 - const``,
  so jqmeta's ``(gamma, beta)`` is ``(2 gamma_SK, -beta_SK)``.

Example:
  >>> from jqmeta._src import angle_tables
  >>> sorted(angle_tables.REGULAR_FIXED_ANGLES)
  [3, 4, 5, 6, 7, 8, 9, 10, 11]
  >>> angle_tables.REGULAR_FIXED_ANGLES[3][1][0], angle_tables.SK_ENERGIES[1]
  (0.6924500474008557, 0.3033)
"""

from __future__ import annotations

import math

import numpy as np

from jqmeta._src import validation

__all__ = ["REGULAR_FIXED_ANGLES", "SK_ANGLES", "SK_ENERGIES", "regular_fixed_angles",
           "regular_fixed_angles_ratio", "sk_angles", "sk_energy"]

REGULAR_FIXED_ANGLES: dict[int, dict[int, tuple[float, tuple[float, ...], tuple[float, ...]]]] = {
    3: {
        1: (0.6924500474008557,
             (0.615533629093832,),
             (0.3926720292447629,)),
        2: (0.7559062918257108,
             (0.4877097327098487, 0.8979876956225422),
             (0.5550603400685824, 0.29250781484335187)),
        3: (0.7923980072764281,
             (0.4220840819023261, 0.7984127540558412, 0.9370887965673924),
             (0.608757260014991, 0.45927530900125874, 0.23539562255067184)),
        4: (0.8168758698205445,
             (0.4087638451376018, 0.7805849642303698, 0.9877281203234828, 1.1563136754269583),
             (0.5995654665076653, 0.4344182507567688, 0.29695001489559947, 0.15906683733146543)),
        5: (0.8363791264990517,
             (0.3595894069747186, 0.7065726026028729, 0.8225565476596165, 1.0047548948734175,
              1.154274581864511),
             (0.6318520293950315, 0.5226524412470716, 0.3897420609614237, 0.2754121638618102,
              0.1491700495831238)),
        6: (0.8498936745383119,
             (0.3310418098207508, 0.6450310061053609, 0.7307769161793426, 0.836583144632134,
              1.0091635404435226, 1.1261003732383816),
             (0.6355589295314058, 0.5339629402370255, 0.4631092335134802, 0.3602554466252171,
              0.25915232549960054, 0.13902573609703753)),
        7: (0.8597933410827674,
             (0.31008979622262184, 0.6182188190089186, 0.6902478518219215, 0.7512220778320337,
              0.8590852547459236, 1.0203900290324208, 1.1220662506886752),
             (0.6481402507440225, 0.553924977795485, 0.489883395749668, 0.4450177185381082,
              0.3405836917027854, 0.2438269283195185, 0.1306345706291833)),
        8: (0.8674066482812723,
             (0.29460578399845716, 0.5867855563839934, 0.6544101338605631, 0.7079285831294416,
              0.7645742048056706, 0.8642502415428974, 1.0256656628956398, 1.1162872335171907),
             (0.6491604649814701, 0.5546799488534804, 0.5003222457916596, 0.4686938845614677,
              0.41960894909047436, 0.31891713167388375, 0.23132378988234067, 0.12290392279079686)),
        9: (0.8735215640022997,
             (0.2794011924832918, 0.5661332449495192, 0.6312225917782034, 0.6793325189483329,
              0.7262406506047812, 0.7680564192050686, 0.8745220050355192, 1.0374709214132756,
              1.1179866501257232),
             (0.6544738691800278, 0.5618639663372907, 0.5090114025125145, 0.4867762872507141,
              0.4514350922540272, 0.40321108228165636, 0.30473032103041725, 0.2198329630539531,
              0.11718174267088216)),
        10: (0.8785275447411593,
             (0.26671636739366406, 0.544822698106431, 0.6099810245305547, 0.6562600851574694,
              0.6957083572595683, 0.7287573975239775, 0.7738775819972508, 0.882111389799642,
              1.0438010077525992, 1.1152592242707038),
             (0.6555835372498169, 0.5631814864780931, 0.5138881653307606, 0.49558421683669446,
              0.4688948671814715, 0.4357432798966732, 0.3884706701377942, 0.29117618969626957,
              0.21050904544590224, 0.11238794493527438)),
        11: (0.8828425408436951,
             (0.257287401304126, 0.5280405724278872, 0.5917709544691275, 0.6396914913796506,
              0.6772056138057753, 0.7020614534590051, 0.7370242568081657, 0.7753074973682114,
              0.8835587304543469, 1.046970255431072, 1.1152377164688672),
             (0.6564387949836022, 0.5633471282117171, 0.5163014280756274, 0.5036682504396424,
              0.4818229959468761, 0.45601255796623946, 0.421434626428442, 0.3707732712794268,
              0.27645017426067187, 0.20094698054318946, 0.10725070156301893)),
    },
    4: {
        1: (0.6623797244430844,
             (0.5234801120857124,),
             (0.392757551327448,)),
        2: (0.7160913880778959,
             (0.40812124329694976, 0.7398019631394029),
             (0.5343441634121997, 0.2830366020507894)),
        3: (0.74856499006392,
             (0.35450349562772787, 0.6513770002137367, 0.7542700008731634),
             (0.5879466969458422, 0.423177520059303, 0.22301355999797107)),
        4: (0.7690249856420008,
             (0.3150062244692523, 0.5875508950252964, 0.67322404139524, 0.7712049702971912),
             (0.6049882911890669, 0.4777982182658282, 0.3612667298872113, 0.18751890947162025)),
        5: (0.7841319843559285,
             (0.2909100700492341, 0.5467732379181015, 0.6033300664566472, 0.6871930644288442,
              0.7844694704197804),
             (0.6225358200399561, 0.5050671398134732, 0.4167120205184159, 0.32533352199648796,
              0.16279504172541723)),
    },
    5: {
        1: (0.6431084006026848,
             (0.4636450135812144,),
             (0.3927087074791786,)),
        2: (0.6907090465730246,
             (0.35866021565916045, 0.6448710304718615),
             (0.5241108355143725, 0.27879346142220535)),
        3: (0.7199012005671692,
             (0.31164606483936663, 0.5635138416936022, 0.6477102740918916),
             (0.5783284846368953, 0.40761955248990894, 0.21892785129401973)),
        4: (0.738556028551146,
             (0.2774572583269933, 0.5097293130541525, 0.5770849110148142, 0.6616388625311488),
             (0.5972548605956374, 0.46346915890043644, 0.34518004357030235, 0.1827751538168603)),
    },
    6: {
        1: (0.629402145665985,
             (0.42054826610527324,),
             (0.392700849042019,)),
        2: (0.672644159847265,
             (0.32421194171104956, 0.5797720763398636),
             (0.5182459260034281, 0.27656092253240366)),
        3: (0.6993213274806402,
             (0.2814248763770048, 0.5040317615408882, 0.5768088401732892),
             (0.5726472558194594, 0.3989181635085229, 0.2169419894926061)),
    },
    7: {
        1: (0.619009279736069,
             (0.38744972391036764,),
             (0.3926950024908073,)),
        2: (0.6589237320152124,
             (0.2982490648603368, 0.5312828444663301),
             (0.5143828787758217, 0.27508714632897385)),
        3: (0.6836233545199477,
             (0.25891678484366526, 0.46079666018024584, 0.5253447642601667),
             (0.5689099038469293, 0.39327924836363015, 0.2155788644358811)),
    },
    8: {
        1: (0.6107779955081902,
             (0.3613794259810469,),
             (0.39269636709923234,)),
        2: (0.6480388540610312,
             (0.27763490974187677, 0.4931217077093033),
             (0.5116859680922209, 0.2741471385417523)),
        3: (0.6711389794409695,
             (0.24068348841850726, 0.4264471925463284, 0.48567283056970284),
             (0.566205680559073, 0.38942934335906626, 0.21492501816555915)),
    },
    9: {
        1: (0.6040492591358448,
             (0.33978782215440595,),
             (0.3926942359920502,)),
        2: (0.6391275529314292,
             (0.26065720389935326, 0.4622640845086935),
             (0.5096941269194841, 0.27364248297758464)),
        3: (0.6609015020123361,
             (0.22600978920768922, 0.39909950131071786, 0.45389055169579134),
             (0.5641826965322783, 0.3865542835213426, 0.21439859728017918)),
    },
    10: {
        1: (0.5984151120484339,
             (0.3218137997470188,),
             (0.39269535590571675,)),
        2: (0.6316564711963937,
             (0.24678106656283366, 0.43661412685091355),
             (0.5081080645590884, 0.272898590740289)),
        3: (0.6523067744462694,
             (0.21378753113344476, 0.3765379319131453, 0.42765928721690416),
             (0.5625866405166696, 0.3843104086494302, 0.21387921490236161)),
    },
    11: {
        1: (0.5936074811398427,
             (0.30627303493815716,),
             (0.3926992518152339,)),
        2: (0.6252746657196956,
             (0.23477647075662886, 0.4147937029794093),
             (0.5068637810086931, 0.2724799686267124)),
    },
}
"""``{degree: {p: (cut_fraction, gammas, betas)}}`` of Wurtz & Lykov (2021), Farhi's convention."""

SK_ANGLES: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {
    1: ((0.5,), (math.pi / 8,)),
    2: ((0.3817, 0.6655), (0.4960, 0.2690)),
    3: ((0.3297, 0.5688, 0.6406), (0.5500, 0.3675, 0.2109)),
    4: ((0.2949, 0.5144, 0.5586, 0.6429), (0.5710, 0.4176, 0.3028, 0.1729)),
    5: ((0.2705, 0.4804, 0.5074, 0.5646, 0.6397), (0.5899, 0.4492, 0.3559, 0.2643, 0.1486)),
    6: ((0.2528, 0.4531, 0.4750, 0.5146, 0.5650, 0.6392),
        (0.6004, 0.4670, 0.3880, 0.3176, 0.2325, 0.1291)),
    7: ((0.2383, 0.4327, 0.4516, 0.4830, 0.5147, 0.5686, 0.6393),
        (0.6085, 0.4810, 0.4090, 0.3534, 0.2857, 0.2080, 0.1146)),
    8: ((0.2268, 0.4162, 0.4332, 0.4608, 0.4818, 0.5179, 0.5717, 0.6393),
        (0.6151, 0.4906, 0.4244, 0.3780, 0.3224, 0.2606, 0.1884, 0.1030)),
    9: ((0.2172, 0.4020, 0.4187, 0.4438, 0.4592, 0.4838, 0.5212, 0.5754, 0.6398),
        (0.6196, 0.4973, 0.4354, 0.3956, 0.3481, 0.2973, 0.2390, 0.1717, 0.0934)),
    10: ((0.2089, 0.3902, 0.4066, 0.4305, 0.4423, 0.4604, 0.4858, 0.5256, 0.5789, 0.6402),
         (0.6235, 0.5029, 0.4437, 0.4092, 0.3673, 0.3246, 0.2758, 0.2208, 0.1578, 0.0855)),
    11: ((0.2019, 0.3799, 0.3963, 0.4196, 0.4291, 0.4431, 0.4611, 0.4895, 0.5299, 0.5821,
          0.6406),
         (0.6268, 0.5070, 0.4502, 0.4195, 0.3822, 0.3451, 0.3036, 0.2571, 0.2051, 0.1459,
          0.0788)),
}
"""``{p: (gammas, betas)}``: optimal infinite-size SK angles (FGGZ 2019, Table 1)."""

SK_ENERGIES: dict[int, float] = {1: 0.3033, 2: 0.4075, 3: 0.4726, 4: 0.5157, 5: 0.5476,
                                 6: 0.5721, 7: 0.5915, 8: 0.6073, 9: 0.6203, 10: 0.6314,
                                 11: 0.6408}
"""``{p: V_p}``: ``-lim_n E_J[<C>/n]`` at :data:`SK_ANGLES` (FGGZ 2019, Table 1)."""


def _table(degree, p) -> tuple[float, tuple, tuple]:
  """The Wurtz-Lykov entry ``(cut_fraction, gammas, betas)``; ``ValueError`` if absent."""
  degree = validation.check_int("degree", degree, 1)
  p = validation.check_int("p", p, 1)
  table = REGULAR_FIXED_ANGLES
  if degree not in table or p not in table[degree]:
    avail = "; ".join(f"degree {d}: p = 1..{max(v)}" for d, v in table.items())
    raise ValueError(f"no fixed-angle table entry for degree {degree}, p = {p}; tabulated "
                     f"(Wurtz & Lykov 2021): {avail}")
  return table[degree][p]


def regular_fixed_angles(degree: int, p: int) -> np.ndarray:
  """The fixed-angle conjecture angles for ``degree``-regular graphs at depth ``p``.

  J. Wurtz and D. Lykov, "The fixed angle conjecture for QAOA on regular MaxCut graphs",
  Phys. Rev. A 104, 052419 (2021): on every ``degree``-regular graph of girth above
  ``2p + 1`` these angles cut the fraction :func:`regular_fixed_angles_ratio` of the
  edges in expectation (and conjecturally at least that on any such graph).
  Tabulated: degree 3 to p = 11, 4 to p = 5, 5 to p = 4, 6..10 to p = 3, 11 to p = 2.

  Args:
    degree: the graph degree.
    p: QAOA depth.

  Returns:
    ``(2, p)`` float64 numpy array in jqmeta's convention (Farhi's ``(gamma, -beta)``).

  Raises:
    ValueError: ``(degree, p)`` is not tabulated (the message lists what is).

  Example:
    >>> regular_fixed_angles(3, 2).round(4).tolist()
    [[0.4877, 0.898], [-0.5551, -0.2925]]
  """
  _, gammas, betas = _table(degree, p)
  return np.array([gammas, [-b for b in betas]], np.float64)


def regular_fixed_angles_ratio(degree: int, p: int) -> float:
  """The cut fraction (expected cut / edges) :func:`regular_fixed_angles` guarantees.

  Example:
    >>> round(regular_fixed_angles_ratio(3, 1), 4), round(regular_fixed_angles_ratio(3, 5), 4)
    (0.6925, 0.8364)
  """
  return float(_table(degree, p)[0])


def _check_sk_p(p) -> int:
  p = validation.check_int("p", p, 1)
  if p not in SK_ANGLES:
    raise ValueError(f"SK angles are tabulated for p = 1..{max(SK_ANGLES)} "
                     f"(Farhi, Goldstone, Gutmann, Zhou 2019), got p = {p}")
  return p


def sk_angles(p: int) -> np.ndarray:
  """Optimal infinite-size Sherrington-Kirkpatrick angles (Farhi et al. 2019), p = 1..11.

  E. Farhi, J. Goldstone, S. Gutmann, L. Zhou, "The QAOA and the Sherrington-Kirkpatrick
  model at infinite size" (arXiv:1910.08187), Table 1.  In jqmeta's convention, on the
  graphs of :func:`jqmeta.problems.sherrington_kirkpatrick` (weights ``J / sqrt(n)``),
  they reach the energy per site ``-V_p`` (:func:`sk_energy`) as ``n`` grows.

  Args:
    p: depth, 1..11.

  Returns:
    ``(2, p)`` float64 numpy array: ``(2 gamma_SK, -beta_SK)``.

  Example:
    >>> sk_angles(1).round(4).tolist()
    [[1.0], [-0.3927]]
  """
  gammas, betas = SK_ANGLES[_check_sk_p(p)]
  return np.array([[2 * g for g in gammas], [-b for b in betas]], np.float64)


def sk_energy(p: int) -> float:
  """``V_p``: the optimal infinite-size SK energy per site in absolute value (p = 1..11).

  Example:
    >>> sk_energy(1), sk_energy(2)
    (0.3033, 0.4075)
  """
  return SK_ENERGIES[_check_sk_p(p)]
