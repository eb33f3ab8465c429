"""Pystone 1.1 (Reinhold Weicker's Dhrystone 1.1 as Python's pystone carried it), run by
bench/calibrate.py in our MicroPython runtime: the one interpreter benchmark with a published ESP32
score whose frequency is stated (pystone_lowmem, 1661 pystones/s at 240 MHz, MicroPython 1.12:
micropython/micropython issue #5673).  Pystones per second are LOOPS / the loop's time, so the same
loop body gives comparable figures whatever LOOPS is.

Usage: micropython bench/mp_pystone.py LOOPS REPEATS   -> prints pystones=N once per repeat
"""

import sys
import time

IDENT1, IDENT2, IDENT3, IDENT4, IDENT5 = 1, 2, 3, 4, 5


class Record:
    def __init__(self, ptr_comp=None, discr=0, enum_comp=0, int_comp=0, string_comp=0):
        self.ptr_comp = ptr_comp
        self.discr = discr
        self.enum_comp = enum_comp
        self.int_comp = int_comp
        self.string_comp = string_comp

    def copy(self):
        return Record(self.ptr_comp, self.discr, self.enum_comp, self.int_comp, self.string_comp)


class G:
    int_glob = 0
    bool_glob = False
    char1_glob = "\0"
    char2_glob = "\0"
    array1_glob = [0] * 51
    array2_glob = [x[:] for x in [array1_glob] * 51]
    ptr_glb = None
    ptr_glb_next = None


def func1(char_par1, char_par2):
    char_loc1 = char_par1
    char_loc2 = char_loc1
    if char_loc2 != char_par2:
        return IDENT1
    return IDENT2


def func2(str_par_i1, str_par_i2):
    int_loc = 1
    char_loc = "\0"
    while int_loc <= 1:
        if func1(str_par_i1[int_loc], str_par_i2[int_loc + 1]) == IDENT1:
            char_loc = "A"
            int_loc = int_loc + 1
    if "W" <= char_loc <= "Z":
        int_loc = 7
    if char_loc == "X":
        return True
    if str_par_i1 > str_par_i2:
        int_loc = int_loc + 7
        return True
    return False


def func3(enum_par_in):
    return enum_par_in == IDENT3


def proc8(array1_par, array2_par, int_par_i1, int_par_i2):
    int_loc = int_par_i1 + 5
    array1_par[int_loc] = int_par_i2
    array1_par[int_loc + 1] = array1_par[int_loc]
    array1_par[int_loc + 30] = int_loc
    for int_index in range(int_loc, int_loc + 2):
        array2_par[int_loc][int_index] = int_loc
    array2_par[int_loc][int_loc - 1] = array2_par[int_loc][int_loc - 1] + 1
    array2_par[int_loc + 20][int_loc] = array1_par[int_loc]
    G.int_glob = 5


def proc7(int_par_i1, int_par_i2):
    int_loc = int_par_i1 + 2
    return int_par_i2 + int_loc


def proc6(enum_par_in):
    enum_par_out = enum_par_in
    if not func3(enum_par_in):
        enum_par_out = IDENT4
    if enum_par_in == IDENT1:
        enum_par_out = IDENT1
    elif enum_par_in == IDENT2:
        enum_par_out = IDENT1 if G.int_glob > 100 else IDENT4
    elif enum_par_in == IDENT3:
        enum_par_out = IDENT2
    elif enum_par_in == IDENT5:
        enum_par_out = IDENT3
    return enum_par_out


def proc5():
    G.char1_glob = "A"
    G.bool_glob = False


def proc4():
    bool_loc = G.char1_glob == "A"
    bool_loc = bool_loc or G.bool_glob
    G.char2_glob = "B"


def proc3(ptr_par_out):
    if G.ptr_glb is not None:
        ptr_par_out = G.ptr_glb.ptr_comp
    else:
        G.int_glob = 100
    G.ptr_glb.int_comp = proc7(10, G.int_glob)
    return ptr_par_out


def proc2(int_par_io):
    int_loc = int_par_io + 10
    enum_loc = 0
    while True:
        if G.char1_glob == "A":
            int_loc = int_loc - 1
            int_par_io = int_loc - G.int_glob
            enum_loc = IDENT1
        if enum_loc == IDENT1:
            break
    return int_par_io


def proc1(ptr_par_in):
    next_record = ptr_par_in.ptr_comp = G.ptr_glb.copy()
    ptr_par_in.int_comp = 5
    next_record.int_comp = ptr_par_in.int_comp
    next_record.ptr_comp = ptr_par_in.ptr_comp
    next_record.ptr_comp = proc3(next_record.ptr_comp)
    if next_record.discr == IDENT1:
        next_record.int_comp = 6
        next_record.enum_comp = proc6(ptr_par_in.enum_comp)
        next_record.ptr_comp = G.ptr_glb.ptr_comp
        next_record.int_comp = proc7(next_record.int_comp, 10)
    else:
        ptr_par_in = next_record.copy()
    next_record.ptr_comp = None
    return ptr_par_in


def proc0(loops):
    t0 = time.ticks_us()
    for _ in range(loops):
        pass
    null_us = time.ticks_diff(time.ticks_us(), t0)

    G.ptr_glb_next = Record()
    G.ptr_glb = Record(G.ptr_glb_next, IDENT1, IDENT3, 40, "DHRYSTONE PROGRAM, SOME STRING")
    string1_loc = "DHRYSTONE PROGRAM, 1'ST STRING"
    G.array2_glob[8][7] = 10

    t0 = time.ticks_us()
    for _ in range(loops):
        proc5()
        proc4()
        int_loc1 = 2
        int_loc2 = 3
        string2_loc = "DHRYSTONE PROGRAM, 2'ND STRING"
        enum_loc = IDENT2
        G.bool_glob = not func2(string1_loc, string2_loc)
        while int_loc1 < int_loc2:
            int_loc3 = 5 * int_loc1 - int_loc2
            int_loc3 = proc7(int_loc1, int_loc2)
            int_loc1 = int_loc1 + 1
        proc8(G.array1_glob, G.array2_glob, int_loc1, int_loc3)
        G.ptr_glb = proc1(G.ptr_glb)
        char_index = "A"
        while char_index <= G.char2_glob:
            if enum_loc == func1(char_index, "C"):
                enum_loc = proc6(IDENT1)
            char_index = chr(ord(char_index) + 1)
        int_loc3 = int_loc2 * int_loc1
        int_loc2 = int_loc3 // int_loc1
        int_loc2 = 7 * (int_loc3 - int_loc2) - int_loc1
        int_loc1 = proc2(int_loc1)
    us = time.ticks_diff(time.ticks_us(), t0) - null_us
    return loops * 1_000_000 // max(1, us)


if __name__ == "__main__":
    loops, repeats = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(repeats):
        print("pystones=" + str(proc0(loops)))
