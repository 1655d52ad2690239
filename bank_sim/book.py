"""The simulated bank's book: PLN customers, their bills, prepaid meters and non-taglis registrations.

Everything is generated from a seed (same seed and date -> the same book), so tests and demos can name
customers and know what the bank will answer. Amounts here are whole rupiah, as in field 48.

Tariff figures are PLN's published household/business rates (Rp per kWh, kept x100 as integers);
street-lighting tax (PPJ) rates are set per region by Perda, 2.4 %..10 %: each service unit gets one.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Callable, Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")
DENOMINATIONS = (20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
STAMP_DUTY_THRESHOLD = 5_000_000   # bea meterai applies only above this amount
STAMP_DUTY = 10_000
VAT_BP = 1100                      # 11 % PPN, charged to business tariffs only
MAX_BILLS_PER_MESSAGE = 4


@dataclass(frozen=True)
class Tariff:
    code: str            # field 48 tariff/segment, an4
    power_va: int
    price_x100: int      # Rp per kWh x100
    penalty: int         # late fee per overdue bill, rupiah
    usage_kwh: tuple[int, int]  # typical monthly use

    @property
    def household(self) -> bool:
        return self.code.startswith("R")


TARIFFS = (
    Tariff("R1", 450, 41500, 3_000, (50, 110)),
    Tariff("R1", 900, 135200, 3_000, (80, 180)),
    Tariff("R1M", 900, 135200, 3_000, (80, 180)),
    Tariff("R1", 1300, 144470, 5_000, (120, 260)),
    Tariff("R1", 2200, 144470, 10_000, (200, 420)),
    Tariff("R2", 3500, 169953, 50_000, (350, 700)),
    Tariff("R2", 5500, 169953, 50_000, (500, 1100)),
    Tariff("R3", 6600, 169953, 75_000, (700, 1500)),
    Tariff("B1", 900, 110000, 3_000, (90, 200)),
    Tariff("B1", 2200, 144470, 10_000, (200, 450)),
    Tariff("B2", 6600, 144470, 75_000, (700, 1800)),
    Tariff("B2", 23000, 144470, 75_000, (2500, 6000)),
)
R1_900, R1_1300 = TARIFFS[1], TARIFFS[3]
# household-heavy, as PLN's customer base is
TARIFF_WEIGHTS = (14, 26, 12, 22, 10, 4, 2, 2, 3, 2, 2, 1)

# service-unit prefixes of IDPEL / registration numbers, each with its region's PPJ rate (basis points)
UNITS = (("53211", 1000), ("51101", 900), ("52120", 800), ("14212", 600), ("32121", 500),
         ("22150", 300), ("54350", 240), ("18100", 1000))
METER_PREFIXES = ("14", "32", "45", "56", "86")

# The contract's example customers (vectors.json) are in every book, so tools written to those examples
# (e.g. `ppob-terminal load` with its default customers) find someone at the simulated bank.
CONTRACT_IDPEL, CONTRACT_METER, CONTRACT_METER_IDPEL = "532110000123", "14234567890", "532110000777"
CONTRACT_REGISTRATION = "5321126110001"
CONTRACT_NUMBERS = (CONTRACT_IDPEL, CONTRACT_METER, CONTRACT_METER_IDPEL, CONTRACT_REGISTRATION)

FIRST_NAMES = ("SITI", "BUDI", "AGUS", "DEWI", "RUDI", "SRI", "EKO", "NUR", "AHMAD", "PUTU", "WAYAN",
               "KADEK", "RINA", "YULI", "HENDRA", "DIAN", "ANDI", "RATNA", "JOKO", "WAHYU", "LESTARI",
               "FITRI", "BAMBANG", "SUSILO", "INDAH", "YOGI", "MUHAMMAD", "DEDI", "ENDANG", "TUTI",
               "HERI", "NINGSIH", "IWAN", "ASEP", "UJANG", "NENG", "IMAM", "SLAMET", "KOMANG", "MADE")
LAST_NAMES = ("AMINAH", "SANTOSO", "HARTONO", "WIJAYA", "SETIAWAN", "KURNIAWAN", "RAHAYU", "SUSANTI",
              "HIDAYAT", "PRATAMA", "SAPUTRA", "LESTARI", "SUGIARTO", "NUGROHO", "HASANUDDIN",
              "SIREGAR", "NASUTION", "SIMANJUNTAK", "WIBOWO", "PURNOMO", "SUHARTO", "HALIM",
              "GUNAWAN", "MAULANA", "FIRMANSYAH", "SULISTYOWATI", "ARDIANSYAH", "SURYADI", "")
BUSINESS_NAMES = ("TOKO BERKAH JAYA", "WARUNG MAKAN SEDERHANA", "CV MAJU BERSAMA", "TOKO SUMBER REJEKI",
                  "BENGKEL MOTOR ABADI", "APOTEK SEHAT SENTOSA", "UD SINAR MAS", "LAUNDRY BERSIH KILAT")


class Status:
    """Why a customer's inquiry is not simply answered with bills."""
    OK = "ok"
    BLOCKED = "blocked"              # 77
    PAID = "paid"                    # 88: this month already settled, nothing unpaid
    NOT_AVAILABLE = "not_available"  # 89: meter not yet read this month


@dataclass(frozen=True)
class Bill:
    period: str          # YYYYMM
    due_date: date
    read_date: date
    amount: int
    penalty: int
    meter_before: int
    meter_after: int

    @property
    def total(self) -> int:
        return self.amount + self.penalty


@dataclass
class PostpaidCustomer:
    idpel: str
    name: str
    tariff: Tariff
    bills: list[Bill]                # every bill the bank holds, oldest first
    status: str = Status.OK
    paid_periods: set[str] = field(default_factory=set)

    @property
    def unpaid(self) -> list[Bill]:
        return [b for b in self.bills if b.period not in self.paid_periods]

    @property
    def offered(self) -> list[Bill]:
        """The bills one message carries: the oldest unpaid, at most 4."""
        return self.unpaid[:MAX_BILLS_PER_MESSAGE]


@dataclass(frozen=True)
class PrepaidMeter:
    meter: str           # 11 digits
    idpel: str           # 12 digits
    name: str
    tariff: Tariff
    ppj_bp: int          # the region's street-lighting tax rate


@dataclass
class Registration:
    number: str          # 13 digits
    transaction_name: str
    name: str
    registration_date: date
    amount: int
    paid: bool = False


@dataclass(frozen=True)
class Sale:
    """A prepaid token purchase: how the denomination splits into taxes and power, and the token."""
    denomination: int
    token: str
    kwh_x100: int
    stamp_duty: int
    vat: int
    ppj: int
    installment: int
    power_purchase: int


@dataclass(frozen=True)
class AdminFees:
    postpaid: int = 3_000    # per bill
    prepaid: int = 2_500     # per purchase
    nontaglis: int = 3_000   # per registration


def token_for(meter: str, ref: str) -> str:
    """A 20-digit STS-style token, deterministic for (meter, reference)."""
    digest = hashlib.sha256(f"{meter}|{ref}".encode()).digest()
    return str(int.from_bytes(digest, "big") % 10**20).zfill(20)


def rounded_div(numerator: int, denominator: int) -> int:
    """Integer division rounding half up (no floats anywhere near money)."""
    return (2 * numerator + denominator) // (2 * denominator)


def compute_sale(meter: PrepaidMeter, denomination: int, ref: str) -> Sale:
    """Splits a denomination: stamp duty and VAT and PPJ first, the rest buys kWh at the tariff."""
    stamp = STAMP_DUTY if denomination > STAMP_DUTY_THRESHOLD else 0
    vat = 0 if meter.tariff.household else denomination * VAT_BP // 10_000
    ppj = denomination * meter.ppj_bp // 10_000
    power = denomination - stamp - vat - ppj
    kwh_x100 = rounded_div(power * 10_000, meter.tariff.price_x100)
    return Sale(denomination, token_for(meter.meter, ref), kwh_x100, stamp, vat, ppj, 0, power)


def today_wib() -> date:
    return datetime.now(WIB).date()


def month_start(day: date, back: int) -> date:
    """First day of the month `back` months before day's month."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


@dataclass
class Book:
    seed: int
    today: date
    postpaid: dict[str, PostpaidCustomer]
    prepaid: dict[str, PrepaidMeter]          # by meter number
    registrations: dict[str, Registration]
    unknown: str                              # a 12-digit IDPEL the bank has never heard of
    admin_fees: AdminFees = field(default_factory=AdminFees)
    _by_idpel: dict[str, PrepaidMeter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_idpel = {m.idpel: m for m in self.prepaid.values()}

    @classmethod
    def generate(cls, seed: int, size: int = 1000, today: date | None = None, *,
                 admin_fees: AdminFees | None = None) -> "Book":
        """size postpaid customers, size prepaid meters and size // 5 (at least 5) registrations."""
        return _Generator(random.Random(seed), today or today_wib()).book(
            seed, max(size, 10), admin_fees or AdminFees())

    # --- lookups ---------------------------------------------------------------------------------

    def prepaid_by_customer(self, customer: str) -> PrepaidMeter | None:
        """Prepaid customers are named by meter number (11 digits) or IDPEL (12 digits)."""
        if len(customer) == 11:
            return self.prepaid.get(customer)
        return self._by_idpel.get(customer)

    def examples(self) -> dict[str, str]:
        """A customer number for each scenario tests and demos need."""
        by_status = _first_by(self.postpaid.values())
        regs = list(self.registrations.values())
        return {
            "postpaid": by_status("2"),
            "postpaid_1": by_status("1"),
            "postpaid_arrears": by_status("6"),
            "prepaid": next(iter(self.prepaid)),
            "nontaglis": next(r.number for r in regs if r.transaction_name == "PASANG BARU"),
            "nontaglis_upgrade": next(r.number for r in regs if r.transaction_name == "PERUBAHAN DAYA"),
            "unknown": self.unknown,
            "blocked": by_status(Status.BLOCKED),
            "paid": by_status(Status.PAID),
            "not_available": by_status(Status.NOT_AVAILABLE),
        }


def _first_by(customers: Iterable[PostpaidCustomer]) -> Callable[[str], str]:
    """Finds the first customer of a status, or (digits) the first OK one with that many unpaid bills."""
    customers = list(customers)

    def find(kind: str) -> str:
        for c in customers:
            if kind.isdigit() and c.status == Status.OK and len(c.unpaid) == int(kind):
                return c.idpel
            if not kind.isdigit() and c.status == kind:
                return c.idpel
        raise LookupError(f"no {kind} customer in the book")
    return find


class _Generator:
    """Draws the book from one Random, in a fixed order, so a seed always gives the same book."""

    # the first customers are fixed scenarios, so examples() always finds them
    SCENARIOS = ((Status.OK, 2), (Status.OK, 1), (Status.OK, 6), (Status.BLOCKED, 3),
                 (Status.PAID, 0), (Status.NOT_AVAILABLE, 0))
    UNPAID_WEIGHTS = ((1, 55), (2, 22), (3, 9), (4, 6), (5, 4), (6, 4))

    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self.used: set[str] = set()

    def book(self, seed: int, size: int, admin_fees: AdminFees) -> Book:
        self.used.update(CONTRACT_NUMBERS)   # no generated customer may take a contract example's number
        postpaid = [self.postpaid(i) for i in range(size)]
        prepaid = [self.prepaid() for _ in range(size)]
        regs = [self.registration(i) for i in range(max(size // 5, 5))]
        # drawn last, so the generated customers of a seed are the same with or without them
        postpaid.append(self.contract_postpaid())
        prepaid.append(PrepaidMeter(CONTRACT_METER, CONTRACT_METER_IDPEL, "BUDI SANTOSO", R1_900, 1000))
        regs.append(Registration(CONTRACT_REGISTRATION, "PASANG BARU", "RUDI HARTONO",
                                 self.today - timedelta(days=5), 1_515_000))
        return Book(seed, self.today, {c.idpel: c for c in postpaid}, {m.meter: m for m in prepaid},
                    {r.number: r for r in regs}, self.unique_number(12, "99"), admin_fees)

    # --- numbers and names -----------------------------------------------------------------------

    def unique_number(self, digits: int, prefix: str) -> str:
        while True:
            number = prefix + "".join(self.rng.choices("0123456789", k=digits - len(prefix)))
            if number not in self.used:
                self.used.add(number)
                return number

    def unit(self) -> tuple[str, int]:
        return self.rng.choice(UNITS)

    def name(self, tariff: Tariff) -> str:
        if not tariff.household and self.rng.random() < 0.7:
            return self.rng.choice(BUSINESS_NAMES)
        full = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}".strip()
        return full[:25]

    def tariff(self) -> Tariff:
        return self.rng.choices(TARIFFS, weights=TARIFF_WEIGHTS)[0]

    # --- customers -------------------------------------------------------------------------------

    def postpaid(self, index: int) -> PostpaidCustomer:
        if index < len(self.SCENARIOS):
            status, unpaid = self.SCENARIOS[index]
        else:
            status, unpaid = self.random_status()
        tariff = self.tariff()
        customer = PostpaidCustomer(self.unique_number(12, self.unit()[0]), self.name(tariff), tariff, [],
                                    status)
        customer.bills = self.bills(tariff, max(unpaid, 1), skip_current=status == Status.NOT_AVAILABLE)
        if status == Status.PAID:   # this month's bill exists and is settled
            customer.paid_periods = {b.period for b in customer.bills}
        return customer

    def contract_postpaid(self) -> PostpaidCustomer:
        customer = PostpaidCustomer(CONTRACT_IDPEL, "SITI AMINAH", R1_1300, [])
        customer.bills = self.bills(R1_1300, 1, skip_current=False)
        return customer

    def random_status(self) -> tuple[str, int]:
        roll = self.rng.random()
        if roll < 0.02:
            return Status.BLOCKED, self.rng.randint(4, 6)
        if roll < 0.05:
            return Status.PAID, 0
        if roll < 0.07:
            return Status.NOT_AVAILABLE, 0
        months, weights = zip(*self.UNPAID_WEIGHTS)
        return Status.OK, self.rng.choices(months, weights=weights)[0]

    def bills(self, tariff: Tariff, unpaid: int, skip_current: bool) -> list[Bill]:
        """Unpaid bills ending with the current month (or last month, when it is not yet read)."""
        last = 1 if skip_current else 0
        reading = self.rng.randint(1_000, 60_000)
        minimum_kwh = 40 * tariff.power_va // 1000   # PLN's 40-hour minimum charge
        bills = []
        for back in range(last + unpaid - 1, last - 1, -1):
            start = month_start(self.today, back)
            used = max(self.rng.randint(*tariff.usage_kwh), minimum_kwh)
            due = start.replace(day=20)
            amount = rounded_div(used * tariff.price_x100, 100)
            penalty = tariff.penalty if due < self.today else 0
            bills.append(Bill(start.strftime("%Y%m"), due, start, amount, penalty, reading, reading + used))
            reading += used
        return bills

    def prepaid(self) -> PrepaidMeter:
        tariff = self.rng.choices(TARIFFS[:8] + TARIFFS[8:10], weights=TARIFF_WEIGHTS[:10])[0]
        unit, ppj_bp = self.unit()
        meter = self.unique_number(11, self.rng.choice(METER_PREFIXES))
        return PrepaidMeter(meter, self.unique_number(12, unit), self.name(tariff), tariff, ppj_bp)

    def registration(self, index: int) -> Registration:
        upgrade = index % 2 == 1      # alternate, so both kinds always exist
        tariff = self.tariff()
        registered = self.today - timedelta(days=self.rng.randint(0, 30))
        if upgrade:
            added_va = self.rng.choice((400, 900, 1300, 2200))
            name, amount = "PERUBAHAN DAYA", added_va * 969
        else:
            name, amount = "PASANG BARU", tariff.power_va * 969 + 150_000   # connection fee + SLO
        number = self.unique_number(13, self.unit()[0])
        return Registration(number, name, self.name(tariff), registered, amount // 500 * 500)
